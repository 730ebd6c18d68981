/* mcpfed plugin SDK: the one header a plugin includes. */
#ifndef MCPFED_H
#define MCPFED_H

#include <mcpfed/base.h>
#include <mcpfed/buf.h>
#include <mcpfed/utf8.h>
#include <mcpfed/log.h>
#include <mcpfed/msg.h>
#include <mcpfed/rpc.h>
#include <mcpfed/lines.h>
#include <mcpfed/child.h>
#include <mcpfed/conf.h>
#include <mcpfed/settings.h>
#include <mcpfed/plugin.h>

#endif
