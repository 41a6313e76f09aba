/*  proto - every message of both planes, one file each (see common.h for
    the shape all of them share). Include this, or only the message's own
    header. */
#ifndef MC_PROTO_H
#define MC_PROTO_H

#include "proto/ack.h"
#include "proto/chunk.h"
#include "proto/common.h"
#include "proto/copy.h"
#include "proto/event.h"
#include "proto/cpack.h"
#include "proto/grains.h"
#include "proto/heartbeat.h"
#include "proto/job.h"
#include "proto/register.h"
#include "proto/reply.h"
#include "proto/reply_jobs.h"
#include "proto/reply_keys.h"
#include "proto/reply_minions.h"
#include "proto/request.h"
#include "proto/ret.h"
#include "proto/stored.h"
#include "proto/topic.h"

#endif
