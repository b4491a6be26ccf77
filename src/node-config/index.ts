// The node-config module's only public door: render containerd / docker / registries.conf / kk registry
// settings that point nodes at the local registry kk pushed to (kubekey.md §3.8 push names).
export { renderNodeConfig } from './render.js';
export { planMirrors, parseLocalRegistry, upstreamServer } from './plan.js';
export type { LocalRegistry, NodeConfigInput, MirrorPlan, MirroredImage, Upstream } from './plan.js';
export { NODE_CONFIG_FORMATS } from './types.js';
export type { NodeConfigFormat, RenderedFile, RenderedConfig } from './types.js';
