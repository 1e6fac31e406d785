int eb_cmd_sweep(int argc, char **argv);
int eb_cmd_sweep(int argc, char **argv) { (void)argc; (void)argv; return 1; }
