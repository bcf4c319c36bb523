"""The exact wing's side of the entry points (marl.tabular, games.tabular): the
tabular run's config (`tabular_config`), its studies (`studies`), the verified
test of a bracket's ends (`proofs`), and the finished sections a resume keeps
(`sections`)."""
