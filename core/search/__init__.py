"""Ranking shared by every store: the same terms and arithmetic give the same results."""
