from sportlens.cli import main

main()
