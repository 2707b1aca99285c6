import { z } from 'zod';
import { isOneLineText } from '../web/text.ts';

/** The rules a person's name and password follow, wherever they are typed. */
export const personName = z
  .string()
  .trim()
  .min(1, 'Enter your name.')
  .max(80, 'Keep your name to 80 characters.')
  .refine(isOneLineText, 'Use only printable characters in your name.');

export const newPassword = z
  .string()
  .min(8, 'Use at least 8 characters for your password.')
  .max(1024, 'That password is too long.');
