/* kernel/control/status_page.html, embedded: the page the metrics endpoint serves at /status. */
    .section .rodata
    .global mf_status_page
    .global mf_status_page_len
    .type mf_status_page, @object
mf_status_page:
    .incbin MF_STATUS_PAGE_FILE
mf_status_page_end:
    .byte 0
    .balign 4
    .type mf_status_page_len, @object
mf_status_page_len:
    .long mf_status_page_end - mf_status_page
    .section .note.GNU-stack,"",@progbits
