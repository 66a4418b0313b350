from demo.build import main

raise SystemExit(main())
