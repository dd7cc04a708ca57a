from verl_mupo.report.cli import main

raise SystemExit(main())
