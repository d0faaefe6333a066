"""Online inference: the production models behind plain classes (`Recommender`, `NextBestActionPolicy`,
`Scorer`), how the API reaches them (`ModelClients`), and the `Personalizer` that asks them all at once."""
