"""The agent turn: one event in, a chain of model steps out, each stored before it is acted
on (``runtime``), with the main context held between turns (``session``), the recursive
summary, reply delivery and the notices a person gets when a turn cannot end as it should."""
