"""Money out to merchants (issue 15). First piece: external accounts, the bank accounts payouts go to."""
