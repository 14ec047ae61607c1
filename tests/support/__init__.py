"""What the test tiers share: real parts on loopback, site files, HTTP clients and test doubles."""
