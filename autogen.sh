#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
exec autoreconf -fi
