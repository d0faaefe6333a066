"""Features: the Feast repo's configuration per workspace, and the Azure Cosmos DB online store plugin."""
