"""The other team's consumer of the hub's order events."""
