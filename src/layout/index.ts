export { OciLayout, refNameCandidates } from './oci-layout.js';
export type { OciLayoutOptions, RefNameForm } from './oci-layout.js';
