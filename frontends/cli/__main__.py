from postroom.frontends.cli import main

main()
