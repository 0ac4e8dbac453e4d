// Generated from realtime.protocol.CloseCode by `python -m realtime.protocol`; do not edit.
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  REVOKED: 4001,
  BAD_ORIGIN: 4003,
  NO_SESSION: 4004,
  TOO_SLOW: 4008,
  SESSION_ENDED: 4009,
  UNLINKED: 4010,
  RATE_LIMITED: 4029,
});
