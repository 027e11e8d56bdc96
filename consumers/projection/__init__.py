"""Projection consumer: a read model of every item's latest state in DynamoDB."""
