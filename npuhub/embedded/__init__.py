"""The embedded stack: hub, proxy, simulated pool and local servers on one machine."""
