from mistral_tok.cli import main

raise SystemExit(main())
