"""The exact wing: tabular games solved by exact entropy-regularized policy gradient,
then greedified, cross-played and measured against the game's symmetries."""
