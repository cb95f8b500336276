from scimbridge.cli import main

main()
