// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_admin.c - unit test of VDI administration (usr/lib/sd_admin.c)
 * against the fake sheep of vdi_fixture.h: sd_vdi_resize() with dog's
 * rules (dog/vdi.c vdi_resize(): grow only, at most 2^20 objects) and
 * ours (a multiple of 512, no hyper volumes), and the one 8-byte write of
 * the inode's vdi_size it sends.
 */
#include "vdi_fixture.h"
#include "../../usr/lib/sd_admin.c"

static const uint32_t idx[2] = { V, 0 };
static uint64_t old;
static int ret;

/* vol0: 16 objects of 4 MiB */
static void admin_setup(void)
{
	vdi_reset();
	fake_inode_make(V, 16 * (uint64_t)OBJ, SH, 0, idx, 2, false);
	old = 0;
}

static uint64_t inode_size(void)
{
	return sd_get_le64(fake_inode + SD_INODE_OFF_VDI_SIZE);
}

static void case_resize_grows(void)
{
	ret = sd_vdi_resize(fake_client, "vol0", 20 * (uint64_t)OBJ, &old);
	CHECK(ret == 0 && old == 16 * (uint64_t)OBJ &&
	      inode_size() == 20 * (uint64_t)OBJ,
	      "resize: grows the inode's vdi_size", "%d '%s' size %llu", ret,
	      sd_get_error(), (unsigned long long)inode_size());
	CHECK(nr_inode_writes == 1 &&
	      last_inode_write.opcode == SD_OP_WRITE_OBJ &&
	      last_inode_write.obj.oid == sd_vid_to_vdi_oid(V) &&
	      last_inode_write.obj.offset == SD_INODE_OFF_VDI_SIZE &&
	      last_inode_write.data_length == 8 &&
	      last_inode_write.obj.copies == 3,
	      "resize: one 8-byte WRITE_OBJ of vdi_size with the VDI's copies",
	      "%d writes off %llu len %u", nr_inode_writes,
	      (unsigned long long)last_inode_write.obj.offset,
	      last_inode_write.data_length);
	CHECK(last_lookup.opcode == SD_OP_GET_VDI_INFO &&
	      !strcmp(last_lookup_name, "vol0") && !last_lookup_tag[0] &&
	      last_lookup.vdi.snapid == 0,
	      "resize: the working VDI is looked up", "op %#x",
	      last_lookup.opcode);
	ret = sd_vdi_resize(fake_client, "vol0", 20 * (uint64_t)OBJ, NULL);
	CHECK(ret == 0 && nr_inode_writes == 1,
	      "resize: the same size writes nothing", "%d writes",
	      nr_inode_writes);
	ret = sd_vdi_resize(fake_client, "vol0", UINT64_C(4) << 40, NULL);
	CHECK(ret == 0 && inode_size() == UINT64_C(4) << 40,
	      "resize: up to exactly 2^20 objects", "%d '%s'", ret,
	      sd_get_error());
}

static void case_resize_refused(void)
{
	ret = sd_vdi_resize(fake_client, "vol0", 8 * (uint64_t)OBJ, &old);
	CHECK(ret == -EINVAL &&
	      strstr(sd_get_error(), "shrinking is not supported") &&
	      old == 16 * (uint64_t)OBJ,
	      "resize: a smaller size is refused", "%d '%s'", ret,
	      sd_get_error());
	ret = sd_vdi_resize(fake_client, "vol0", (UINT64_C(4) << 40) + 512,
			    NULL);
	CHECK(ret == -EINVAL && strstr(sd_get_error(), "too large") &&
	      strstr(sd_get_error(), "4398046511104"),
	      "resize: over 2^20 objects refused with the maximum", "%d '%s'",
	      ret, sd_get_error());
	nr_lookups = 0;
	ret = sd_vdi_resize(fake_client, "vol0", 20 * (uint64_t)OBJ + 100,
			    NULL);
	CHECK(ret == -EINVAL && strstr(sd_get_error(), "multiple of 512") &&
	      nr_lookups == 0,
	      "resize: not a multiple of 512, refused before asking",
	      "%d '%s'", ret, sd_get_error());
	lookup_result = SD_RES_NO_VDI;
	ret = sd_vdi_resize(fake_client, "vol0", 20 * (uint64_t)OBJ, NULL);
	CHECK(ret == -ENOENT && strstr(sd_get_error(), "vol0"),
	      "resize: no such VDI", "%d '%s'", ret, sd_get_error());
	lookup_result = SD_RES_SUCCESS;
	fake_inode_make(V, 16 * (uint64_t)OBJ, SH, 1, idx, 0, false);
	ret = sd_vdi_resize(fake_client, "vol0", 20 * (uint64_t)OBJ, NULL);
	CHECK(ret == -EOPNOTSUPP && strstr(sd_get_error(), "hyper volume"),
	      "resize: a hyper volume is refused", "%d '%s'", ret,
	      sd_get_error());
	CHECK(nr_inode_writes == 0, "resize: nothing written on refusals",
	      "%d writes", nr_inode_writes);
	fake_inode_make(V, 16 * (uint64_t)OBJ, SH, 0, idx, 0, false);
	write_result = SD_RES_EIO;
	ret = sd_vdi_resize(fake_client, "vol0", 20 * (uint64_t)OBJ, NULL);
	CHECK(ret == -EIO && strstr(sd_get_error(), "updating inode"),
	      "resize: a refused write is an error", "%d '%s'", ret,
	      sd_get_error());
}

int main(void)
{
	static const struct t_case cases[] = {
		T_CASE(case_resize_grows),
		T_CASE(case_resize_refused),
	};

	return VDI_RUN(cases, admin_setup, NULL);
}
