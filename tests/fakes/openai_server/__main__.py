"""``python -m tests.fakes.openai_server``: serve the fake until terminated."""

from tests.fakes.openai_server.server import main

main()
