"""Headless participants of the signaling protocol, for `ceremony venue-bot`, rehearsals, tests and benchmarks.

`client.SignalingClient` is one participant's session over aiohttp (hello,
resume, heartbeat answers), reading the server's messages with
signaling.protocol's parser; `peer.PeerLink` is one aiortc connection to a
remote media peer, negotiated the "perfect negotiation" way; `venue_bot` puts
them together as a venue that sends and receives media and a host that admits
venues. Nothing in the server imports this package.
"""
