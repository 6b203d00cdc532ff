// Name and release of the guest OS, as uname and the boot banner print them.
export const GUEST_OS_NAME = 'nitrolab';
export const GUEST_OS_RELEASE = '0.1.0';
