import { type Request, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { notFound } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { findServableFile, type ServableFile } from './files.ts';
import { sendStoredFile } from './serve.ts';
import type { FileStore } from './store.ts';

/**
 * A file and its thumbnail, for the members of its tablo while its message stands; 404 to
 * everyone else, as for every tablo route. (The name in the URL is for people and downloads;
 * the id is what counts.)
 */
export function fileRoutes(db: Database, store: FileStore): Router {
  const router = Router();
  const servable = async (req: Request, userId: number): Promise<ServableFile> => {
    const id = parseId(req.params.fileId);
    const file = id === undefined ? undefined : await findServableFile(db, userId, id);
    if (!file) throw notFound();
    return file;
  };

  router.get('/files/thumbnails/:fileId', requireSignIn(), async (req, res) => {
    const file = await servable(req, signedInUser(res).id);
    if (!file.thumbnail) throw notFound();
    await sendStoredFile(req, res, store, { ...file.thumbnail, type: 'image/webp', name: undefined });
  });

  router.get('/files/:fileId/:name', requireSignIn(), async (req, res) => {
    const file = await servable(req, signedInUser(res).id);
    await sendStoredFile(req, res, store, file);
  });

  return router;
}
