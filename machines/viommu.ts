/**
 * VIOMMU lifecycle: wraps a nest-parent HWPT_PAGING on one physical IOMMU;
 * hardware events for its guest streams arrive as 'event' while live.
 */
import { liveObjectMachine } from './common.ts';

export const viommuMachine = liveObjectMachine('viommu', { events: true });
