"""The leavers tidy-up (DOMAIN.md, Access and leavers): the seed's manual clean-up after a rollover, as one call."""
