/**
 * VDEVICE lifecycle: a device's virtual id on a vIOMMU.  Destroyed by
 * IOMMU_DESTROY, or forcibly when its DEVICE is unbound (the context then
 * leaves a tombstone in the id's slot).
 */
import { liveObjectMachine } from './common.ts';

export const vdeviceMachine = liveObjectMachine('vdevice', { events: false });
