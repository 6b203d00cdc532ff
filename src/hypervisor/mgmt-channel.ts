// The hypervisor's end of the private management channel on the PCIe link: it answers the card's MgmtRequests and
// posts the events the card consumes. After its "hello" (link training; again after every reconnect, listing the VMs
// it runs so a restarted card can reconcile) it never initiates a command.
import type { Logger } from '../common/log.ts';
import { LinkError } from '../devices/pcie/link/errors.ts';
import { decodeMgmtJson, encodeMgmt, isMgmtRequest } from '../devices/pcie/link/mgmt.ts';
import { LINK_FN, LinkCmd, LinkErrno, type MgmtEvent } from '../devices/pcie/link/messages.ts';
import type { LinkPeer } from '../devices/pcie/link/peer.ts';
import type { HelloVm, MgmtReply, MgmtRequest } from '../devices/pcie/link/messages.ts';

/** `hv.netFrame`: legacy mode's NIC port — NET_FRAMEs the card's VPC data plane sends to a virtio-net model here. */
export function serveManagementChannel(peer: LinkPeer, hv: { handle(req: MgmtRequest): Promise<MgmtReply>; netFrame?(fn: number, frame: Uint8Array): void }, log: Logger, hello: { pcpus: number; memBytes: number; vms?: HelloVm[] }) {
  peer.onRequest(async (frame) => {
    if (frame.cmd === LinkCmd.NET_FRAME && hv.netFrame !== undefined) return hv.netFrame(frame.fn, frame.payload);
    if (frame.cmd !== LinkCmd.MGMT || frame.fn !== LINK_FN) {
      throw new LinkError(LinkErrno.ENOSYS, `the hypervisor serves only MGMT on fn 0xFFFF (got cmd 0x${frame.cmd.toString(16)} fn ${frame.fn})`);
    }
    const msg = decodeMgmtJson(frame.payload);
    if (!isMgmtRequest(msg)) {
      log.warn({ event: 'mgmt-malformed', keys: Object.keys(msg) }, 'management frame without an op');
      throw new LinkError(LinkErrno.EINVAL, 'management request has no op');
    }
    return encodeMgmt(await hv.handle(msg));
  });
  const post = (ev: MgmtEvent) => {
    if (peer.isUp) peer.post(LinkCmd.MGMT, LINK_FN, encodeMgmt(ev));
  };
  post({ event: 'hello', role: 'hypervisor', ...hello });
  return {
    console: (vmId: string, data: string) => post({ event: 'console', vmId, data }),
    vmState: (vmId: string, state: 'booting' | 'running' | 'halted' | 'crashed', reason: string) => post({ event: 'vm-state', vmId, state, reason }),
  };
}
