from provscan.cli import main

main()
