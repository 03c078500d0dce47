from vlmtop.cli import main

raise SystemExit(main())
