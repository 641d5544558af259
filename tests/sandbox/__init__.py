"""The sandbox processor as a service of its own: its rules (cards, banks, fees) and its process.

How the platform talks to it is tested at the boundary, in tests/gateways/."""
