"""What every entry point runs on: hydra composition and typed configs
(`compose`), exit codes, one-line errors, help and interrupts (`entry`, `help`),
the log (`logs`), one job in several processes (`processes`), each process's
share of the cores (`cores`), the compilation caches kept small (`xla_cache`),
and run directories: their lifecycle and lock (`rundir`) and their files
(`results`)."""
