import type { FileStorageConfig } from '../config.ts';
import { localFileStore } from './local-store.ts';
import { s3FileStore } from './s3-store.ts';
import type { FileStore } from './store.ts';

/** The store the configuration names: `DATA_DIR/files`, or an S3-compatible bucket. */
export function openFileStore(config: FileStorageConfig): FileStore {
  return config.kind === 's3' ? s3FileStore(config) : localFileStore(config.directory);
}
