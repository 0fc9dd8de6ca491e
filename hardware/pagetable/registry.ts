// Format table indexed by FormatId; kept apart from format.ts to avoid import cycles.
import type { PageTableFormat } from './format.ts';
import { MOCK } from './mock.ts';
import { VTD_FL, VTD_SL } from './vtd.ts';
import { SMMU_S1, SMMU_S2 } from './smmuv3.ts';
import { AMD_V1, AMD_V2 } from './amd.ts';

export const FORMATS: readonly PageTableFormat[] = [MOCK, VTD_SL, VTD_FL, SMMU_S1, SMMU_S2, AMD_V1, AMD_V2];
export { MOCK, VTD_FL, VTD_SL, SMMU_S1, SMMU_S2, AMD_V1, AMD_V2 };
