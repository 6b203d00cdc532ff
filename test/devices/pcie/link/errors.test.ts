// LinkError names its errno.
import t from 'tap';
import { LinkError, errnoName, isLinkError } from '../../../../src/devices/pcie/link/errors.ts';
import { LinkErrno } from '../../../../src/devices/pcie/link/messages.ts';

t.test('a LinkError carries its errno and its name', async (t) => {
  const e = new LinkError(LinkErrno.ENODEV);
  t.equal(e.errno, 19);
  t.equal(e.code, 'ENODEV');
  t.equal(e.message, 'ENODEV');
  t.ok(isLinkError(e));
  t.equal(errnoName(4242), 'E4242');
});
