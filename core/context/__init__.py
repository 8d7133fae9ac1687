"""Main context: the prompt's layout, token counting, the working-context blocks, and cutting
text into token-sized chunks."""
