from scimbridge.cli.main import main

main()
