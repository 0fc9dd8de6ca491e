/**
 * IOAS lifecycle.  Live from IOMMU_IOAS_ALLOC until IOMMU_DESTROY, which the
 * context forwards only once no HWPT or access holds the IOAS; teardown
 * unmaps every area (unpinning pages) and the object is freed.
 */
import { liveObjectMachine } from './common.ts';

export const ioasMachine = liveObjectMachine('ioas', { events: false });
