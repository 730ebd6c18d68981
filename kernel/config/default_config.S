/* etc/mcpfed.lua, embedded: the configuration mcpfed runs when given none. */
    .section .rodata
    .global mf_default_config
    .global mf_default_config_len
    .type mf_default_config, @object
mf_default_config:
    .incbin MF_DEFAULT_CONFIG_FILE
mf_default_config_end:
    .byte 0
    .balign 4
    .type mf_default_config_len, @object
mf_default_config_len:
    .long mf_default_config_end - mf_default_config
    .section .note.GNU-stack,"",@progbits
