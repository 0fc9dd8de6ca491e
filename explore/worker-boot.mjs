// Worker bootstrap: worker threads do not inherit tsx's loader, so register
// it here (as bin/iommufd-sim.mjs does) and then load the TypeScript entry.
import { register } from 'tsx/esm/api';
register();
await import('./worker.ts');
