// The PCI function model (specs.md §1.1–1.5): what the link drives for every emulated function.
export { PciFunction, validateModel, allOnes, type PciFunctionOptions } from './pci-function.ts';
export {
  ConfigSpace, Type0Header, Command, Status, BarBits, COMMAND_RW_MASK, CONFIG_SPACE_SIZE, LEGACY_CONFIG_SIZE,
  barRegOffset, encodeBar, type BarEncoding,
} from './config-space.ts';
export {
  CapId, ExtCapId, PmCap, ExpressCap, MsixCap, DsnExtCap, Pm, Express, MsixControl, FIRST_CAP_OFFSET, FIRST_EXT_CAP_OFFSET,
  walkCapabilities, walkExtendedCapabilities, type CapabilityLayout, type FoundCap,
} from './capabilities.ts';
export { Msix, MsixTableEntry, VECTOR_CONTROL_MASK, MSIX_MAX_VECTORS, msixPages, type MsixVectorState } from './msix.ts';
export { renderLspciDump, parseLspciDump, type LspciDumpOptions } from './lspci-dump.ts';
