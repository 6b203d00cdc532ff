// Protocol counters of the guest IP stack (named after Linux's /proc/net/snmp and netstat -s fields). Every dropped
// frame or packet lands in exactly one of them, so a test or `ip stats` can say why something was not delivered.

export const newNetCounters = () => ({
  /** Ethernet */
  ethInFrames: 0,
  ethInRunts: 0,
  ethInUnknownType: 0,
  ethInNotForUs: 0,
  /** ARP */
  arpInRequests: 0,
  arpInReplies: 0,
  arpInErrors: 0,
  arpOutRequests: 0,
  arpOutReplies: 0,
  arpUnresolved: 0,
  arpQueueDrops: 0,
  /** IPv4 (Ip: InReceives, InHdrErrors, InAddrErrors, …) */
  ipInReceives: 0,
  ipInHdrErrors: 0,
  ipInCsumErrors: 0,
  ipInTruncated: 0,
  ipInAddrErrors: 0,
  ipInUnknownProtos: 0,
  ipInDelivers: 0,
  ipReasmFails: 0,
  ipOutRequests: 0,
  ipOutNoRoutes: 0,
  ipOutDiscards: 0,
  /** ICMP */
  icmpInEchos: 0,
  icmpInEchoReps: 0,
  icmpInErrors: 0,
  icmpOutEchos: 0,
  icmpOutEchoReps: 0,
  /** UDP */
  udpInDatagrams: 0,
  udpNoPorts: 0,
  udpInErrors: 0,
  udpInCsumErrors: 0,
  udpRcvbufErrors: 0,
  udpOutDatagrams: 0,
  /** TCP */
  tcpActiveOpens: 0,
  tcpPassiveOpens: 0,
  tcpAttemptFails: 0,
  tcpEstabResets: 0,
  tcpInSegs: 0,
  tcpOutSegs: 0,
  tcpRetransSegs: 0,
  tcpInErrs: 0,
  tcpInCsumErrors: 0,
  tcpOutRsts: 0,
  tcpOutOfOrderDrops: 0,
  /** DHCP client */
  dhcpOut: 0,
  dhcpIn: 0,
  dhcpLeases: 0,
});

export type NetCounters = ReturnType<typeof newNetCounters>;
