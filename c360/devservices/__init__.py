"""Local stand-ins for Azure services (azurite for ADLS, @vercel/cosmosdb-server for Cosmos DB).

Used by the tests and the benchmarks; each starts on a free loopback port and stops on exit. The npm
packages are pinned in `devservices/package.json` at the repository root and installed on first use with
`npm ci`.
"""
