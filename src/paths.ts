import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's top folder, wherever the process was started from. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const viewsDir = path.join(projectRoot, 'views');
export const staticDir = path.join(projectRoot, 'static');
export const htmxDistDir = path.join(projectRoot, 'node_modules', 'htmx.org', 'dist');
