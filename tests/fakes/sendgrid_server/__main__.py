"""``python -m tests.fakes.sendgrid_server``: serve the fake until terminated."""

from tests.fakes.sendgrid_server.server import main

main()
