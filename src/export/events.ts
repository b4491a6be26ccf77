// Progress of an export as plain events: the CLI renders them as bars on a TTY or NDJSON otherwise.
export type ExportEvent =
  | { type: 'plan'; images: number; files: number; arches: string[]; zone: string }
  | { type: 'resolved'; images: number; of: number; failed: number; totalBytes: number; cachedBytes: number } // running totals; final when images === of
  | { type: 'image-start'; ref: string; arch: string; size: number }
  | {
      type: 'image-done';
      ref: string;
      arch: string;
      source: string;
      via: string;
      digest: string;
      size: number;
      fetchedBytes: number;
    }
  | { type: 'image-failed'; ref: string; arch: string; code: string; message: string }
  | { type: 'bytes'; ref: string; arch: string; fetched: number }
  | { type: 'file-start'; path: string; arch: string; kind: 'binary' | 'iso' }
  | { type: 'file-size'; path: string; arch: string; size: number } // the whole file's size, once a source's headers tell it
  | { type: 'file-done'; path: string; source: string; via: string; sha256: string; fetchedBytes: number }
  | { type: 'file-failed'; path: string; code: string; message: string }
  | { type: 'warning'; message: string }
  | { type: 'archive-start'; path: string; entries: number; compress: string }
  | { type: 'archive'; path: string; entries: number; parts?: string[] }
  | { type: 'done'; images: number; failed: number; fetchedBytes: number; output?: string; seconds: number };

export type EventSink = (e: ExportEvent) => void;
